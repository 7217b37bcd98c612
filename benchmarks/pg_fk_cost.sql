-- What PostgreSQL's foreign-key triggers cost a bulk insert, and whether deferring them helps
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
\echo setbased_check_then_insert_nofk
SELECT count(*) FROM generate_series(1, 200000) g LEFT JOIN p ON p.id = 1 + (g % 10000) WHERE p.id IS NULL;
DROP SCHEMA bulkfk CASCADE;
