package cards

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

// TestLedgerConcurrentTransfers: 100 concurrent transfers among 10 users; the ledger sums to
// zero, every cached balance equals the sum of its entries, no balance is negative, and the
// total held by the users is what was issued.
func TestLedgerConcurrentTransfers(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		admin := f.user("", authz.RoleAdmin)
		users := make([]authn.Identity, 10)
		for i := range users {
			users[i] = f.user("")
			if _, err := f.svc.Recharge(ctx, admin, users[i].UserID, 50); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, short := 0, 0
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				from, to := users[i%10], users[(i*7+3)%10]
				if from == to {
					to = users[(i+1)%10]
				}
				_, err := f.svc.TransferQuota(ctx, from, to.UserID, int64(10+i%40))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrInsufficientQuota):
					short++
				default:
					t.Errorf("transfer: %v", err)
				}
			}()
		}
		wg.Wait()
		f.checkLedger()
		var total int64
		for _, u := range users {
			b := f.balance(u)
			if b.Pending != 0 {
				t.Fatalf("pending left after posting: %+v", b)
			}
			total += b.Available
		}
		if total != 500 {
			t.Fatalf("users hold %d, want 500 (ok %d, short %d)", total, ok, short)
		}
		if ok == 0 {
			t.Fatal("no transfer succeeded")
		}
		t.Logf("%d transfers posted, %d refused for lack of quota", ok, short)

		// One account spent from 20 times at once: exactly what it holds goes out.
		spender := f.user("")
		if _, err := f.svc.Recharge(ctx, admin, spender.UserID, 50); err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		posted := make(chan struct{}, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, err := f.svc.TransferQuota(ctx, spender, users[i%10].UserID, 10); err == nil {
					posted <- struct{}{}
				} else if !errors.Is(err, ErrInsufficientQuota) {
					t.Errorf("transfer: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(posted) != 5 || f.balance(spender).Available != 0 {
			t.Fatalf("%d transfers of 10 posted from 50; balance %+v", len(posted), f.balance(spender))
		}
		f.checkLedger()
	})
}

// TestLedgerOperationsFuzz runs random sequences of every ledger operation and checks the
// invariants after each step (FuzzLedger explores more sequences on SQLite).
func TestLedgerOperationsFuzz(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		rng := rand.New(rand.NewPCG(1, 2))
		ops := make([]byte, 600)
		if testing.Short() {
			ops = ops[:120]
		}
		for i := range ops {
			ops[i] = byte(rng.IntN(256))
		}
		runLedgerOps(t, f, ops)
	})
}

// FuzzLedger: any sequence of recharges, transfers, withdrawals and decisions keeps the
// ledger balanced, every balance equal to its entries and never negative.
func FuzzLedger(fz *testing.F) {
	fz.Add([]byte{0, 50, 2, 30, 3, 20, 4, 0})
	fz.Add([]byte{1, 90, 0, 100, 1, 40, 2, 200, 3, 10, 5, 0, 3, 5, 4, 0})
	fz.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 200 {
			ops = ops[:200]
		}
		runLedgerOps(t, newFixture(t, dbtest.Open(t, testMigrations()...), false), ops)
	})
}

// runLedgerOps reads ops two bytes at a time: an operation and an amount (some of them
// invalid on purpose), and checks the invariants after each.
func runLedgerOps(t *testing.T, f *fixture, ops []byte) {
	ctx := context.Background()
	admin := f.user("", authz.RoleAdmin)
	boss := f.user("", authz.RoleAgentAdmin)
	agents := []authn.Identity{f.user(boss.UserID, authz.RoleAgent), f.user(boss.UserID, authz.RoleAgent), f.user("", authz.RoleAgent)}
	everyone := append([]authn.Identity{boss}, agents...)
	var pending []string
	for i := 0; i+1 < len(ops); i += 2 {
		op, arg := ops[i], ops[i+1]
		amount := int64(arg) - 5
		u := everyone[int(op>>3)%len(everyone)]
		var err error
		switch op % 6 {
		case 0:
			_, err = f.svc.Recharge(ctx, admin, u.UserID, amount)
		case 1:
			_, err = f.svc.Recharge(ctx, boss, agents[int(arg)%len(agents)].UserID, amount)
		case 2:
			to := everyone[int(arg)%len(everyone)]
			_, err = f.svc.TransferQuota(ctx, u, to.UserID, amount)
		case 3:
			var tr *Transfer
			tr, err = f.svc.Withdraw(ctx, u, amount, "bank 1")
			if err == nil {
				pending = append(pending, tr.ID)
			}
		case 4, 5:
			if len(pending) == 0 {
				continue
			}
			j := int(arg) % len(pending)
			decider := admin
			if arg%2 == 0 {
				decider = boss
			}
			_, err = f.svc.DecideWithdrawal(ctx, decider, pending[j], op%6 == 4)
			if err == nil {
				pending = append(pending[:j], pending[j+1:]...)
			}
		}
		if err != nil && !errors.Is(err, ErrInsufficientQuota) && !errors.Is(err, authz.ErrNotFound) &&
			!errors.Is(err, ErrNotFound) && !errors.Is(err, authz.ErrForbidden) && !isValidation(err) {
			t.Fatalf("step %d: %v", i/2, err)
		}
		f.checkLedger()
	}
	// What stays pending is frozen: the hold accounts carry exactly those amounts.
	var frozen, want int64
	for _, u := range everyone {
		frozen += f.balance(u).Pending
	}
	for _, id := range pending {
		var tr Transfer
		if err := f.gdb.Where("id = ?", id).Take(&tr).Error; err != nil {
			t.Fatal(err)
		}
		want += tr.Amount
	}
	if frozen != want {
		t.Fatalf("frozen %d, pending withdrawals %d", frozen, want)
	}
}

func isValidation(err error) bool { return errors.Is(err, apperr.ErrValidation) }

// TestLedgerRules: who may recharge whom, from which account, and the two-phase withdrawal.
func TestLedgerRules(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		admin := f.user("", authz.RoleAdmin)
		boss := f.user("", authz.RoleAgentAdmin)
		mine := f.user(boss.UserID, authz.RoleAgent)
		other := f.user("", authz.RoleAgent)
		if _, err := f.svc.Recharge(ctx, boss, mine.UserID, 10); !errors.Is(err, ErrInsufficientQuota) {
			t.Fatalf("agent admin without quota: %v", err)
		}
		if _, err := f.svc.Recharge(ctx, admin, boss.UserID, 100); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Recharge(ctx, boss, mine.UserID, 30); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Recharge(ctx, boss, other.UserID, 30); !errors.Is(err, authz.ErrNotFound) {
			t.Fatalf("another's agent: %v", err)
		}
		if _, err := f.svc.Recharge(ctx, mine, boss.UserID, 1); !errors.Is(err, authz.ErrForbidden) {
			t.Fatalf("agent recharging: %v", err)
		}
		if b := f.balance(boss); b.Available != 70 {
			t.Fatalf("boss %+v", b)
		}
		w, err := f.svc.Withdraw(ctx, mine, 20, "bank 42")
		if err != nil {
			t.Fatal(err)
		}
		if b := f.balance(mine); b.Available != 10 || b.Pending != 20 {
			t.Fatalf("after withdrawal request %+v", b)
		}
		if _, err := f.svc.DecideWithdrawal(ctx, other, w.ID, true); err == nil {
			t.Fatal("a stranger approved")
		}
		if _, err := f.svc.DecideWithdrawal(ctx, boss, w.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.DecideWithdrawal(ctx, boss, w.ID, true); !errors.Is(err, ErrNotPending) {
			t.Fatalf("second decision: %v", err)
		}
		if b := f.balance(mine); b.Available != 30 || b.Pending != 0 {
			t.Fatalf("after rejection %+v", b)
		}
		if _, err := f.svc.TransferQuota(ctx, mine, other.UserID, 31); !errors.Is(err, ErrInsufficientQuota) {
			t.Fatalf("overdraft: %v", err)
		}
		if _, err := f.svc.TransferQuota(ctx, mine, other.UserID, 0); err == nil {
			t.Fatal("zero transfer accepted")
		}
		f.checkLedger()
	})
}
