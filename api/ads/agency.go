package ads

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/api/auth"
	"github.com/onstagehq/onstage/internal/authn"
)

// Import limits.
const (
	// MaxImportRows bounds the data rows of one import file.
	MaxImportRows = 1000
	maxCity       = 100
	maxGames      = 20
	maxGame       = 50
)

// importColumns is the header row every import file starts with.
var importColumns = []string{"email", "display_name", "city", "games"}

// The problem codes of an import row.
const (
	CodeDuplicate = "duplicate_in_file" // the email is on an earlier row of the same file
	CodeTaken     = "email_taken"       // the email already has an account
	CodeInvalid   = "invalid_value"     // the value breaks a rule (format, length)
	CodeRequired  = "required"          // the cell is empty
	CodeHeader    = "invalid_header"    // the first row is not email,display_name,city,games
	CodeTooMany   = "too_many_rows"     // more than MaxImportRows data rows
	CodeFile      = "unreadable_file"   // neither CSV nor XLSX
)

// RowError is one problem of an import: the row (1 is the header row, the first data row is
// 2, as a spreadsheet numbers them), the column's name and a code.
type RowError struct {
	Row    int    `json:"row"`
	Column string `json:"column"`
	Code   string `json:"code"`
}

// ImportError is an import refused for its problems; nothing was created.
type ImportError struct{ Problems []RowError }

func (e *ImportError) Error() string { return fmt.Sprintf("import: %d problems", len(e.Problems)) }

// importRow is a validated data row.
type importRow struct {
	row   int
	child auth.ChildInput
	city  string
	games []string
}

// readRows returns the rows of an import file with the number each has in the file (a CSV
// file's line, a sheet's row): XLSX (its first sheet) when the data is a zip archive, CSV
// otherwise.
func readRows(data []byte) ([][]string, []int, error) {
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		f, err := excelize.OpenReader(bytes.NewReader(data))
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		sheets := f.GetSheetList()
		if len(sheets) == 0 {
			return nil, nil, errors.New("no sheet")
		}
		rows, err := f.GetRows(sheets[0])
		nums := make([]int, len(rows))
		for i := range nums {
			nums[i] = i + 1
		}
		return rows, nums, err
	}
	if !utf8.Valid(data) {
		return nil, nil, errors.New("not UTF-8 text")
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord = -1
	var rows [][]string
	var nums []int
	filled := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nums, nil
		}
		if err != nil {
			return nil, nil, err
		}
		line, _ := r.FieldPos(0) // the reader skips empty lines: number rows by their line
		rows, nums = append(rows, rec), append(nums, line)
		if strings.TrimSpace(strings.Join(rec, "")) != "" {
			if filled++; filled > MaxImportRows+1 {
				return rows, nums, nil // the header and one row too many: the count check reports it
			}
		}
	}
}

// parseImport validates every row of a file and returns the valid rows, or every problem.
func (s *Service) parseImport(ctx context.Context, data []byte) ([]importRow, []RowError, error) {
	rows, nums, err := readRows(data)
	if err != nil || len(rows) == 0 {
		return nil, []RowError{{Row: 1, Column: "file", Code: CodeFile}}, nil
	}
	header := rows[0]
	ok := len(header) >= len(importColumns)
	for i, c := range importColumns {
		if !ok || strings.ToLower(strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))) != c {
			ok = false
			break
		}
	}
	if !ok {
		return nil, []RowError{{Row: nums[0], Column: "header", Code: CodeHeader}}, nil
	}
	var problems []RowError
	var out []importRow
	first := map[string]int{}
	count := 0
	for i, rec := range rows[1:] {
		n := nums[i+1]
		cell := func(c int) string {
			if c < len(rec) {
				return strings.TrimSpace(rec[c])
			}
			return ""
		}
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue // blank lines are not rows
		}
		if count++; count > MaxImportRows {
			return nil, []RowError{{Row: n, Column: "file", Code: CodeTooMany}}, nil
		}
		bad := func(col, code string) { problems = append(problems, RowError{Row: n, Column: col, Code: code}) }
		child, fe := auth.CheckChild(auth.ChildInput{Email: cell(0), DisplayName: cell(1)})
		rowOK := true
		for _, col := range []string{"email", "display_name"} {
			if _, has := fe[col]; has {
				rowOK = false
				if cell(slices.Index(importColumns, col)) == "" {
					bad(col, CodeRequired)
				} else {
					bad(col, CodeInvalid)
				}
			}
		}
		if _, has := fe["email"]; !has {
			if _, dup := first[child.Email]; dup {
				bad("email", CodeDuplicate)
				rowOK = false
			} else {
				first[child.Email] = n
			}
		}
		city := cell(2)
		if utf8.RuneCountInString(city) > maxCity || strings.ContainsFunc(city, unicode.IsControl) {
			bad("city", CodeInvalid)
			rowOK = false
		}
		games, gok := splitGames(cell(3))
		if !gok {
			bad("games", CodeInvalid)
			rowOK = false
		}
		if rowOK {
			out = append(out, importRow{row: n, child: child, city: city, games: games})
		}
	}
	if len(out) == 0 && len(problems) == 0 {
		return nil, []RowError{{Row: nums[0] + 1, Column: "email", Code: CodeRequired}}, nil
	}
	emails := make([]string, 0, len(out))
	for _, r := range out {
		emails = append(emails, r.child.Email)
	}
	taken, err := s.accounts.TakenEmails(ctx, emails)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range out {
		if taken[r.child.Email] {
			problems = append(problems, RowError{Row: r.row, Column: "email", Code: CodeTaken})
		}
	}
	sortProblems(problems)
	return out, problems, nil
}

// sortProblems orders problems by row, then by column as the header has them.
func sortProblems(p []RowError) {
	slices.SortStableFunc(p, func(a, b RowError) int {
		if a.Row != b.Row {
			return cmp.Compare(a.Row, b.Row)
		}
		return cmp.Compare(slices.Index(importColumns, a.Column), slices.Index(importColumns, b.Column))
	})
}

// splitGames reads a games cell: names separated by ";", "|" or ",".
func splitGames(v string) ([]string, bool) {
	out := []string{}
	if v == "" {
		return out, true
	}
	for _, g := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == '|' || r == ',' }) {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		if utf8.RuneCountInString(g) > maxGame || strings.ContainsFunc(g, unicode.IsControl) {
			return nil, false
		}
		out = append(out, strings.ToLower(g))
	}
	return out, len(out) <= maxGames
}

// ImportResult is a successful import (or dry run).
type ImportResult struct {
	Created int  `json:"created"`
	Valid   int  `json:"valid"`
	DryRun  bool `json:"dry_run"`
}

// Import creates a streamer sub-account of the calling agency for every row of a CSV or XLSX
// file (header email,display_name,city,games). Every row is validated first; then all are
// created in one transaction, or none: any problem comes back as *ImportError listing each by
// row, column and code. dryRun validates only. Each created account is mailed a link to choose
// its password.
func (s *Service) Import(ctx context.Context, actor authn.Identity, data []byte, dryRun bool) (*ImportResult, error) {
	if actor.Role != authn.RoleAgency {
		return nil, ErrNotAgency
	}
	rows, problems, err := s.parseImport(ctx, data)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, &ImportError{Problems: problems}
	}
	if dryRun {
		return &ImportResult{Valid: len(rows), DryRun: true}, nil
	}
	if s.afterValidate != nil {
		s.afterValidate()
	}
	children := make([]auth.ChildInput, len(rows))
	for i, r := range rows {
		children[i] = r.child
	}
	var mailAll func(context.Context)
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		users, send, err := s.accounts.CreateChildrenInTx(ctx, tx, actor.UserID, authn.RoleStreamer, children)
		if err != nil {
			return err
		}
		subs := make([]subAccount, len(users))
		for i, u := range users {
			games, _ := json.Marshal(rows[i].games)
			subs[i] = subAccount{UserID: u.ID, AgencyID: actor.UserID, City: rows[i].city, Games: string(games), CreatedAt: u.CreatedAt}
		}
		if err := tx.CreateInBatches(subs, 200).Error; err != nil {
			return fmt.Errorf("create sub-accounts: %w", err)
		}
		mailAll = send
		if s.beforeCommit != nil {
			return s.beforeCommit(tx)
		}
		return nil
	})
	if errors.Is(err, auth.ErrEmailTaken) {
		// An email was registered between the check and the transaction: name its row now.
		_, problems, perr := s.parseImport(ctx, data)
		if perr == nil && len(problems) > 0 {
			return nil, &ImportError{Problems: problems}
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	mailAll(context.WithoutCancel(ctx))
	s.log.InfoContext(ctx, "agency import", "agency", actor.UserID, "created", len(rows))
	return &ImportResult{Created: len(rows), Valid: len(rows)}, nil
}

// SubAccount is an agency's sub-account as the API shows it.
type SubAccount struct {
	auth.View
	City  string   `json:"city"`
	Games []string `json:"games"`
}

// SubAccounts lists the calling agency's sub-accounts, filtered by q (email or name).
func (s *Service) SubAccounts(ctx context.Context, actor authn.Identity, q string, page, size int) ([]SubAccount, int64, error) {
	if actor.Role != authn.RoleAgency {
		return nil, 0, ErrNotAgency
	}
	users, total, err := s.accounts.Children(ctx, actor.UserID, q, page, size)
	if err != nil {
		return nil, 0, err
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	var subs []subAccount
	if len(ids) > 0 {
		if err := s.db.WithContext(ctx).Where("user_id IN ? AND agency_id = ?", ids, actor.UserID).Find(&subs).Error; err != nil {
			return nil, 0, fmt.Errorf("read sub-accounts: %w", err)
		}
	}
	by := map[string]subAccount{}
	for _, sa := range subs {
		by[sa.UserID] = sa
	}
	out := make([]SubAccount, 0, len(users))
	for _, u := range users {
		sa := by[u.ID]
		out = append(out, SubAccount{View: u, City: sa.City, Games: jsonList(sa.Games)})
	}
	return out, total, nil
}
