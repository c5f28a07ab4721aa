package ads

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

func countWhere(t *testing.T, f *fixture, table, where string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := f.gdb.Table(table).Where(where, args...).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestImportRollback: an email registered between the validation and the import's
// transaction makes the insert fail; nothing of the file is created, no mail goes out, and
// the reply names the row.
func TestImportRollback(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		agency := f.user("agency", authn.RoleAgency)
		// More rows than one insert batch holds, so the late email fails a later statement
		// of the transaction than the first one.
		stamp := time.Now().UnixNano()
		var emails []string
		csv := "email,display_name,city,games\n"
		for i := range 250 {
			emails = append(emails, fmt.Sprintf("r%d-%d@example.com", i, stamp))
			csv += fmt.Sprintf("%s,Row %d,Rome,chess\n", emails[i], i)
		}
		last := emails[len(emails)-1]
		f.svc.afterValidate = func() {
			if _, err := f.users.CreateUser(ctx, last, "password-late", "Late", authn.RolePlayer); err != nil {
				t.Error(err)
			}
		}
		_, err := f.svc.Import(ctx, agency, []byte(csv), false)
		var ie *ImportError
		if !errors.As(err, &ie) || !reflect.DeepEqual(ie.Problems, []RowError{{Row: 251, Column: "email", Code: CodeTaken}}) {
			t.Fatalf("import: %v %+v", err, ie)
		}
		if n := countWhere(t, f, "users", "parent_id = ?", agency.UserID); n != 0 {
			t.Fatalf("%d users created", n)
		}
		if n := countWhere(t, f, "agency_sub_accounts", "agency_id = ?", agency.UserID); n != 0 {
			t.Fatalf("%d sub-accounts created", n)
		}
		if n := countWhere(t, f, "outbox", "recipient IN ?", emails[:249]); n != 0 {
			t.Fatalf("%d mails sent", n)
		}
		// A failure after every row was written, at the end of the transaction, leaves nothing.
		f.svc.afterValidate = nil
		f.svc.beforeCommit = func(tx *gorm.DB) error {
			var n int64
			tx.Table("users").Where("parent_id = ?", agency.UserID).Count(&n)
			if n != 249 {
				t.Errorf("inside the transaction: %d users", n)
			}
			return errors.New("injected failure")
		}
		if _, err := f.svc.Import(ctx, agency, []byte(strings.Join(strings.Split(csv, "\n")[:250], "\n")), false); err == nil {
			t.Fatal("import survived a failed transaction")
		}
		f.svc.beforeCommit = nil
		for _, table := range []string{"users", "agency_sub_accounts"} {
			col := "parent_id"
			if table == "agency_sub_accounts" {
				col = "agency_id"
			}
			if n := countWhere(t, f, table, col+" = ?", agency.UserID); n != 0 {
				t.Fatalf("%d rows left in %s", n, table)
			}
		}
		if n := countWhere(t, f, "password_reset_tokens", "1 = 1"); n != 0 {
			t.Fatalf("%d set-password tokens left", n)
		}
		if n := countWhere(t, f, "outbox", "recipient IN ?", emails[:249]); n != 0 {
			t.Fatalf("%d mails sent", n)
		}
		// Without the late registration the same file, minus the taken row, goes in whole.
		res, err := f.svc.Import(ctx, agency, []byte(strings.Join(strings.Split(csv, "\n")[:250], "\n")), false)
		if err != nil || res.Created != 249 {
			t.Fatalf("import: %+v %v", res, err)
		}
		if n := countWhere(t, f, "users", "parent_id = ? AND role = ?", agency.UserID, "streamer"); n != 249 {
			t.Fatalf("%d users created", n)
		}
		if n := countWhere(t, f, "outbox", "recipient IN ? AND subject LIKE ?", emails[:249], "%choose a password%"); n != 249 {
			t.Fatalf("%d set-password mails", n)
		}
	})
}

func xlsxOf(t *testing.T, rows [][]string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, r := range rows {
		for j, v := range r {
			cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
			_ = f.SetCellValue("Sheet1", cell, v)
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestImportValidation lists every problem of a file by row, column and code, for CSV and
// XLSX alike, and creates nothing; a dry run of a good file creates nothing either.
func TestImportValidation(t *testing.T) {
	f := newFixture(t, dbtest.Open(t, migrations()...), cachetest.Memory(t))
	ctx := context.Background()
	agency := f.user("agency", authn.RoleAgency)
	taken := f.user("taken", authn.RolePlayer)
	var takenEmail string
	if err := f.gdb.Table("users").Select("email").Where("id = ?", taken.UserID).Scan(&takenEmail).Error; err != nil {
		t.Fatal(err)
	}
	rows := [][]string{
		{"Email", "display_name", "city", "games"},
		{"ok@example.com", "Ok", "Rome", "chess"},
		{"not-an-email", "Bad", "", ""},
		{"OK@example.com", "Dup", "", ""},
		{takenEmail, "Taken", "", ""},
		{"", "", "", ""}, // blank: skipped
		{"x@example.com", "", strings.Repeat("c", 101), "g1;" + strings.Repeat("g", 51)},
	}
	want := []RowError{{3, "email", CodeInvalid}, {4, "email", CodeDuplicate}, {5, "email", CodeTaken},
		{7, "display_name", CodeRequired}, {7, "city", CodeInvalid}, {7, "games", CodeInvalid}}
	var csv strings.Builder
	for _, r := range rows {
		csv.WriteString(strings.Join(r, ",") + "\n")
	}
	for name, data := range map[string][]byte{"csv": []byte(csv.String()), "xlsx": xlsxOf(t, rows)} {
		t.Run(name, func(t *testing.T) {
			_, err := f.svc.Import(ctx, agency, data, false)
			var ie *ImportError
			if !errors.As(err, &ie) || !reflect.DeepEqual(ie.Problems, want) {
				t.Fatalf("got %v %+v\nwant %+v", err, ie, want)
			}
		})
	}
	for _, c := range []struct {
		name string
		data []byte
		want RowError
	}{
		{"header", []byte("mail,name\nx@example.com,X\n"), RowError{1, "header", CodeHeader}},
		{"empty", []byte(""), RowError{1, "file", CodeFile}},
		{"binary", []byte{0xff, 0xfe, 0x00}, RowError{1, "file", CodeFile}},
		{"no rows", []byte("email,display_name,city,games\n"), RowError{2, "email", CodeRequired}},
		{"blank lines", []byte("email,display_name,city,games\n\nok@example.com,Ok,,\n\r\n\nbad,Bad,,\n"), RowError{6, "email", CodeInvalid}},
		{"quoted games", []byte("email,display_name,city,games\n\"a@example.com\",A,\"Rome\",\"chess, go\"\nx,X,,\n"), RowError{3, "email", CodeInvalid}},
		{"too many", []byte("email,display_name,city,games\n" + strings.Repeat("a@example.com,A,,\n", MaxImportRows+1)), RowError{MaxImportRows + 2, "file", CodeTooMany}},
	} {
		_, err := f.svc.Import(ctx, agency, c.data, false)
		var ie *ImportError
		if !errors.As(err, &ie) || !reflect.DeepEqual(ie.Problems, []RowError{c.want}) {
			t.Fatalf("%s: %v %+v", c.name, err, ie)
		}
	}
	res, err := f.svc.Import(ctx, agency, []byte("email,display_name,city,games\nnew@example.com,New,,\n"), true)
	if err != nil || !res.DryRun || res.Valid != 1 || res.Created != 0 {
		t.Fatalf("dry run %+v %v", res, err)
	}
	if n := countWhere(t, f, "users", "parent_id = ?", agency.UserID); n != 0 {
		t.Fatalf("%d users created", n)
	}
	if _, err := f.svc.Import(ctx, f.user("s", authn.RoleStreamer), []byte("x"), false); !errors.Is(err, ErrNotAgency) {
		t.Fatalf("streamer import: %v", err)
	}
}
