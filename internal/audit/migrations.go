package audit

import (
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/db"
)

// genesis is the previous hash of the first row ever written.
const genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Migrations returns the audit log's schema: the rows, and the chain's head row whose lock
// serializes appends.
func Migrations() []db.Migration {
	return []db.Migration{{ID: "0122_audit_log", Up: func(tx *gorm.DB) error {
		if err := tx.Migrator().CreateTable(&rowV1{}, &headV1{}); err != nil {
			return err
		}
		return tx.Create(&headV1{ID: 1, LastHash: genesis, ArchivedHash: genesis}).Error
	}}}
}

// rowV1 is admin_operation_logs as 0122_audit_log created it (seed 003's columns, plus the
// chain). Ids are given by the writer holding the head lock, so they have no gaps.
type rowV1 struct {
	ID          int64  `gorm:"primaryKey;autoIncrement:false"`
	ActorID     string `gorm:"size:36;not null;index:idx_audit_actor"`
	ActorName   string `gorm:"size:64;not null"`
	Module      string `gorm:"size:50;not null;index:idx_audit_module"`
	Operation   string `gorm:"size:100;not null"`
	TargetType  string `gorm:"size:50;not null"`
	TargetID    string `gorm:"size:100;not null"`
	Method      string `gorm:"size:10;not null"`
	URL         string `gorm:"size:500;not null"`
	Body        string `gorm:"type:text;not null"`
	IP          string `gorm:"size:45;not null"`
	UserAgent   string `gorm:"size:500;not null"`
	Status      string `gorm:"size:16;not null"`
	HTTPStatus  int    `gorm:"not null"`
	Error       string `gorm:"type:text;not null"`
	LatencyMS   int64  `gorm:"not null"`
	CreatedAtMS int64  `gorm:"not null;index:idx_audit_created"`
	PrevHash    string `gorm:"size:64;not null"`
	Hash        string `gorm:"size:64;not null"`
}

func (rowV1) TableName() string { return "admin_operation_logs" }

// headV1 is the single row (id 1) holding the chain's end and what was archived.
type headV1 struct {
	ID           int64  `gorm:"primaryKey;autoIncrement:false"`
	LastID       int64  `gorm:"not null"`
	LastHash     string `gorm:"size:64;not null"`
	ArchivedID   int64  `gorm:"not null"`
	ArchivedHash string `gorm:"size:64;not null"`
}

func (headV1) TableName() string { return "admin_operation_log_head" }
