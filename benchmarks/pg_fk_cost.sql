-- What PostgreSQL's foreign-key triggers cost a bulk insert, whether deferring them helps, and
-- what a set-based statement trigger (migration 0011_pg_fk) costs instead
-- (benchmarks/README.md). Run: psql URL -f benchmarks/pg_fk_cost.sql (creates and drops schema bulkfk).
\timing on
DROP SCHEMA IF EXISTS bulkfk CASCADE; CREATE SCHEMA bulkfk; SET search_path = bulkfk;
CREATE TABLE p (id int PRIMARY KEY);
INSERT INTO p SELECT generate_series(1, 10000);
CREATE TABLE c_nofk (id serial PRIMARY KEY, pid int NOT NULL, v float);
CREATE TABLE c_fk (id serial PRIMARY KEY, pid int NOT NULL REFERENCES p(id), v float);
CREATE TABLE c_def (id serial PRIMARY KEY, pid int NOT NULL REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED, v float);
\echo no_fk
INSERT INTO c_nofk (pid, v) SELECT 1 + (g % 10000), g FROM generate_series(1, 200000) g;
\echo fk_immediate
INSERT INTO c_fk (pid, v) SELECT 1 + (g % 10000), g FROM generate_series(1, 200000) g;
\echo fk_deferred
BEGIN;
INSERT INTO c_def (pid, v) SELECT 1 + (g % 10000), g FROM generate_series(1, 200000) g;
COMMIT;
\echo statement_trigger (what migration 0011_pg_fk does: one pass, FOR KEY SHARE, count)
CREATE TABLE c_trg (id serial PRIMARY KEY, pid int NOT NULL, v float);
CREATE FUNCTION c_trg_check() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE keys int[]; n bigint;
BEGIN
  SELECT array_agg(DISTINCT pid) INTO keys FROM new_rows;
  SELECT count(*) INTO n FROM (SELECT 1 FROM p WHERE p.id = ANY(keys) FOR KEY SHARE) x;
  IF n < coalesce(cardinality(keys), 0) THEN
    RAISE EXCEPTION 'missing parent' USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $fn$;
CREATE TRIGGER c_trg_check AFTER INSERT ON c_trg REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION c_trg_check();
INSERT INTO c_trg (pid, v) SELECT 1 + (g % 10000), g FROM generate_series(1, 200000) g;
\echo setbased_check_then_insert_nofk
SELECT count(*) FROM generate_series(1, 200000) g LEFT JOIN p ON p.id = 1 + (g % 10000) WHERE p.id IS NULL;
DROP SCHEMA bulkfk CASCADE;
