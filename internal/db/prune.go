package db

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Prune bounds the work of one DeleteOlder call: rows go in batches of PruneBatch, oldest id
// first, at most PruneMaxBatches batches a call, so a large backlog (a first deployment) is
// worked off over several calls instead of one long one.
const (
	PruneBatch      = 1000
	PruneMaxBatches = 100
)

// DeleteOlder deletes the rows of model's table whose column is before cutoff and returns how
// many it deleted. The table's primary key must be an integer column named id, which orders
// the rows by age: each batch selects ids then deletes by id, so no statement holds many row
// locks or needs an index on column. column is written into the SQL as it is: pass a
// constant column name, never input. Callers on several nodes may run it at once; a row
// another deleted first is simply gone.
func DeleteOlder(ctx context.Context, gdb *gorm.DB, model any, column string, cutoff time.Time) (int64, error) {
	var deleted int64
	for range PruneMaxBatches {
		var ids []int64
		err := gdb.WithContext(ctx).Model(model).Where(column+" < ?", cutoff).
			Order("id").Limit(PruneBatch).Pluck("id", &ids).Error
		if err != nil {
			return deleted, fmt.Errorf("select rows to prune: %w", err)
		}
		if len(ids) == 0 {
			return deleted, nil
		}
		res := gdb.WithContext(ctx).Where("id IN ?", ids).Delete(model)
		if res.Error != nil {
			return deleted, fmt.Errorf("prune rows: %w", res.Error)
		}
		deleted += res.RowsAffected
		if len(ids) < PruneBatch {
			break
		}
	}
	return deleted, nil
}
