package migrate

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// The schema an online migration guards reads every definition that
// decides what data a table takes, on a real PostgreSQL: each DDL below,
// run during the window, changes the fingerprint and is named in the
// change list; DDL that changes no data's shape (a plain index, a
// comment) does not stop the migration.
func TestSchemaSeesDefinitions(t *testing.T) {
	pg := testutil.StartPostgres(t)
	const base = `CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TABLE contacts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name varchar(40) NOT NULL, email text,
  score numeric(10,2) DEFAULT 0, m mood, n positive, created timestamptz DEFAULT now());
CREATE TABLE deals (id int PRIMARY KEY, contact bigint REFERENCES contacts (id), amount int CHECK (amount >= 0));`
	for i, tc := range []struct {
		name, ddl string
		// want is a text the change list holds; "" for no change.
		want string
	}{
		{"a column's length", "ALTER TABLE contacts ALTER COLUMN name TYPE varchar(200)", "character varying(200)"},
		{"a numeric's scale", "ALTER TABLE contacts ALTER COLUMN score TYPE numeric(12,4)", "numeric(12,4)"},
		{"a column's type", "ALTER TABLE deals ALTER COLUMN amount TYPE bigint", "deals.amount bigint"},
		{"NOT NULL dropped", "ALTER TABLE contacts ALTER COLUMN name DROP NOT NULL", "- column contacts.name character varying(40) not null"},
		{"NOT NULL added", "ALTER TABLE contacts ALTER COLUMN email SET NOT NULL", "email text not null"},
		{"a default changed", "ALTER TABLE contacts ALTER COLUMN score SET DEFAULT 5", "default 5"},
		{"a default dropped", "ALTER TABLE contacts ALTER COLUMN created DROP DEFAULT", "- column contacts.created"},
		{"a column added", "ALTER TABLE contacts ADD COLUMN phone text", "+ column contacts.phone text"},
		{"a column dropped", "ALTER TABLE contacts DROP COLUMN email", "- column contacts.email text"},
		{"a column renamed", "ALTER TABLE contacts RENAME COLUMN email TO mail", "contacts.mail"},
		{"a check added", "ALTER TABLE deals ADD CONSTRAINT big CHECK (amount < 1000000)", "CHECK ((amount < 1000000))"},
		{"a check dropped", "ALTER TABLE deals DROP CONSTRAINT deals_amount_check", "- constraint deals deals_amount_check"},
		{"a unique constraint", "ALTER TABLE contacts ADD CONSTRAINT one_email UNIQUE (email)", "UNIQUE (email)"},
		{"a unique index", "CREATE UNIQUE INDEX lower_email ON contacts (lower(email))", "unique index CREATE UNIQUE INDEX lower_email"},
		{"a foreign key's action", "ALTER TABLE deals DROP CONSTRAINT deals_contact_fkey, ADD CONSTRAINT deals_contact_fkey FOREIGN KEY (contact) REFERENCES contacts (id) ON DELETE CASCADE", "ON DELETE CASCADE"},
		{"a primary key changed", "ALTER TABLE deals DROP CONSTRAINT deals_pkey, ADD PRIMARY KEY (id, amount)", "PRIMARY KEY (id, amount)"},
		{"an enum value added", "ALTER TYPE mood ADD VALUE 'glad'", "enum mood 'glad'"},
		{"a domain's check", "ALTER DOMAIN positive ADD CONSTRAINT small CHECK (VALUE < 100)", "constraint positive small"},
		{"a collation", "ALTER TABLE contacts ALTER COLUMN email TYPE text COLLATE \"C\"", "collate C"},
		{"a table added", "CREATE TABLE notes (id int)", "+ table notes"},
		{"a table dropped", "DROP TABLE deals", "- table deals"},
		{"a table in another schema", "CREATE SCHEMA crm; CREATE TABLE crm.tags (id int)", "table crm.tags"},
		{"identity dropped", "ALTER TABLE contacts ALTER COLUMN id DROP IDENTITY", "- column contacts.id bigint not null identity a"},
		{"a plain index: no change", "CREATE INDEX by_name ON contacts (name)", ""},
		{"a comment: no change", "COMMENT ON TABLE contacts IS 'people'", ""},
		{"a row written: no change", "INSERT INTO contacts (name) VALUES ('x')", ""},
		{"a view: no change", "CREATE VIEW v AS SELECT id FROM contacts", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := fmt.Sprintf("schema_%d", i)
			pg.Exec(t, "postgres", "CREATE DATABASE "+db)
			pg.Exec(t, db, base)
			d := DB{Name: "source", Host: "127.0.0.1", Port: pg.Port, User: "nextflow", Password: pg.Password, Database: db, SSLMode: "disable"}
			ctx := context.Background()
			read := func() Schema {
				c, err := connect(ctx, d)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close(ctx)
				s, err := ReadSchema(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			was := read()
			pg.Exec(t, db, tc.ddl)
			now := read()
			ch := SchemaChanges(was.Lines, now.Lines)
			switch {
			case tc.want == "" && (was.Fingerprint != now.Fingerprint || len(ch) > 0):
				t.Errorf("%s changed the fingerprint: %v", tc.ddl, ch)
			case tc.want != "" && was.Fingerprint == now.Fingerprint:
				t.Errorf("%s is not seen", tc.ddl)
			case tc.want != "" && !strings.Contains(strings.Join(ch, "\n"), tc.want):
				t.Errorf("%s: the changes do not say %q:\n%s", tc.ddl, tc.want, strings.Join(ch, "\n"))
			}
		})
	}
}
