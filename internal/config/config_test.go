package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// The documented file must describe exactly the defaults in code.
func TestShippedFileMatchesDefaults(t *testing.T) {
	got, err := Load(filepath.Join("..", "..", "configs", "onstage.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	got.Media.NAT1To1IPs, got.Media.ICEServers, got.Cluster.Advertise, got.HTTP.TrustedProxies = nil, nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("configs/onstage.yaml differs from Default():\n got %+v\nwant %+v", got, want)
	}
}

func TestClusterExampleLoads(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "configs", "cluster.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.DrainTimeout != 30*time.Second {
		t.Fatalf("cluster.drain_timeout = %v, want 30s", cfg.Cluster.DrainTimeout)
	}
}

func TestEnvOverrides(t *testing.T) {
	cfg, err := Load("", env(map[string]string{
		"ONSTAGE_DATABASE_DSN":       "postgres://u:p@h/db",
		"ONSTAGE_REDIS_URL":          "redis://127.0.0.1:6379/0",
		"ONSTAGE_NATS_URL":           "nats://127.0.0.1:4222",
		"ONSTAGE_HTTP_ADDR":          "127.0.0.1:9000",
		"ONSTAGE_AUTH_ACCESS_TTL":    "5m",
		"ONSTAGE_MEDIA_NAT_1TO1_IPS": "1.2.3.4, 5.6.7.8",
		"ONSTAGE_HTTP_PPROF":         "true",
		"ONSTAGE_MEDIA_UDP_MUX_PORT": "7882",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database.DSN != "postgres://u:p@h/db" || cfg.Redis.URL == "" || cfg.NATS.URL == "" ||
		cfg.HTTP.Addr != "127.0.0.1:9000" || cfg.Auth.AccessTTL != 5*time.Minute || !cfg.HTTP.Pprof ||
		cfg.Media.UDPMuxPort != 7882 || !reflect.DeepEqual(cfg.Media.NAT1To1IPs, []string{"1.2.3.4", "5.6.7.8"}) {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
}

func TestInvalid(t *testing.T) {
	for name, e := range map[string]map[string]string{
		"bad duration":                 {"ONSTAGE_AUTH_ACCESS_TTL": "soon"},
		"bad int":                      {"ONSTAGE_MEDIA_UDP_MUX_PORT": "x"},
		"bad bool":                     {"ONSTAGE_HTTP_PPROF": "maybe"},
		"short secret":                 {"ONSTAGE_AUTH_JWT_SECRET": "short"},
		"bad range":                    {"ONSTAGE_MEDIA_UDP_PORT_MIN": "5000", "ONSTAGE_MEDIA_UDP_PORT_MAX": "4000"},
		"bad format":                   {"ONSTAGE_LOG_FORMAT": "xml"},
		"metrics on the main address":  {"ONSTAGE_HTTP_ADDR": ":8080", "ONSTAGE_HTTP_METRICS_ADDR": ":8080"},
		"gc percent too low":           {"ONSTAGE_GC_PERCENT": "5"},
		"gc percent off":               {"ONSTAGE_GC_PERCENT": "-1"},
		"ads pending ttl too short":    {"ONSTAGE_ADS_PENDING_TTL": "30m"},
		"unknown subscriber transport": {"ONSTAGE_MEDIA_SUBSCRIBER_TRANSPORT": "webrtc"},
		"lite with a port range": {"ONSTAGE_MEDIA_UDP_PORT_MIN": "5000", "ONSTAGE_MEDIA_UDP_PORT_MAX": "6000",
			"ONSTAGE_MEDIA_SUBSCRIBER_TRANSPORT": "lite"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Load("", env(e)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("htp:\n  addr: x\n"), 0o600)
	if _, err := Load(path, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown key: err = %v, want ErrInvalid", err)
	}
}

func TestMasked(t *testing.T) {
	cfg := Default()
	cfg.Auth.JWTSecret = strings.Repeat("s", 40)
	cfg.Database.DSN = "postgres://app:hunter2@db:5432/onstage"
	cfg.Mail.Password = "mailpass"
	cfg.Media.ICEServers = []string{"turn:u:turnpass@turn.example:3478"}
	m := cfg.Masked()
	all := ""
	for k, v := range m {
		all += k + "=" + v + "\n"
	}
	for _, secret := range []string{"sssss", "hunter2", "mailpass"} {
		if strings.Contains(all, secret) {
			t.Fatalf("secret %q leaked:\n%s", secret, all)
		}
	}
	if m["auth.jwt_secret"] != "***" || !strings.Contains(m["database.dsn"], "app:xxxxx@db") {
		t.Fatalf("masking wrong: %q %q", m["auth.jwt_secret"], m["database.dsn"])
	}
}

func TestMaskDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://app:hunter2@db:5432/x":       "postgres://app:xxxxx@db:5432/x",
		"redis://:hunter2@cache:6379/0":          "redis://:xxxxx@cache:6379/0",
		"mysql://root:hunter2@tcp(db:3306)/test": "mysql://root:xxxxx@tcp(db:3306)/test",
		"root:hunter2@tcp(db:3306)/test":         "root:xxxxx@tcp(db:3306)/test",
		"mysql://root@tcp(db:3306)/test":         "mysql://root@tcp(db:3306)/test",
		"nats://127.0.0.1:4222":                  "nats://127.0.0.1:4222",
		"":                                       "",
	} {
		if got := MaskDSN(in); got != want {
			t.Errorf("MaskDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestJWTSecretPersists(t *testing.T) {
	cfg := Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	a, err := cfg.JWTSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := cfg.JWTSecret()
	if err != nil || string(a) != string(b) || len(a) < 32 {
		t.Fatalf("secret not kept: %q %q %v", a, b, err)
	}
	info, _ := os.Stat(filepath.Join(cfg.DataDir, "jwt.secret"))
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v", info.Mode().Perm())
	}
	other := Default()
	other.DataDir = t.TempDir()
	c, _ := other.JWTSecret()
	if string(c) == string(a) {
		t.Fatal("two data dirs generated the same secret")
	}
}

func TestNodeID(t *testing.T) {
	host, _ := os.Hostname()
	a, b := DefaultNodeID(":8081", "./data"), DefaultNodeID("127.0.0.1:8082", "./data")
	if a == b || !strings.HasSuffix(a, "-8081") || !strings.HasSuffix(b, "-8082") || !validNodeID(a) {
		t.Fatalf("defaults on one host: %q and %q (host %q)", a, b, host)
	}
	if x, y := DefaultNodeID(":0", "/srv/a"), DefaultNodeID(":0", "/srv/b"); x == y || !validNodeID(x) {
		t.Fatalf("defaults without a fixed port: %q and %q", x, y)
	}
	for _, tc := range []struct {
		id string
		ok bool
	}{{"", true}, {"node-1", true}, {"eu_west-3", true}, {"web.example.com", false}, {"a b", false},
		{"node>", false}, {"node*", false}, {strings.Repeat("n", 65), false}} {
		cfg := Default()
		cfg.NodeID = tc.id
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("node_id %q: %v", tc.id, err)
		}
	}
}

func TestNATSAuthValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*NATS)
		ok   bool
	}{
		{"creds with a URL", func(n *NATS) { n.URL, n.CredsFile = "tls://nats:4222", "/etc/n.creds" }, true},
		{"nkey and TLS files", func(n *NATS) {
			n.URL, n.NKeySeedFile, n.TLS = "nats://nats:4222", "/etc/n.nk", TLS{CAFile: "ca", CertFile: "c", KeyFile: "k"}
		}, true},
		{"creds for the embedded server", func(n *NATS) { n.CredsFile = "/etc/n.creds" }, false},
		{"creds and nkey", func(n *NATS) { n.URL, n.CredsFile, n.NKeySeedFile = "nats://nats:4222", "a", "b" }, false},
		{"cert without key", func(n *NATS) { n.URL, n.TLS.CertFile = "nats://nats:4222", "c" }, false},
	} {
		cfg := Default()
		tc.set(&cfg.NATS)
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	cfg, err := Load("", func(k string) (string, bool) {
		v, ok := map[string]string{"ONSTAGE_NATS_URL": "tls://n:4222", "ONSTAGE_NATS_NKEY_SEED_FILE": "/s.nk",
			"ONSTAGE_NATS_TLS_CA_FILE": "/ca.pem"}[k]
		return v, ok
	})
	if err != nil || cfg.NATS.NKeySeedFile != "/s.nk" || cfg.NATS.TLS.CAFile != "/ca.pem" {
		t.Fatalf("from the environment: %+v, %v", cfg.NATS, err)
	}
}
