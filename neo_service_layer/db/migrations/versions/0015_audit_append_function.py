"""The audit chain appended by PostgreSQL itself: ``nsl_audit_append`` (PostgreSQL only).

One call appends a batch of audit entries: it locks the chain head, stamps the batch with the clock
read under the lock, numbers and hashes each entry after the head exactly as ``services/audit/chain``
defines the hash (SHA-256 of the previous hash and the entry's canonical JSON), inserts them and moves
the head. The caller sends each entry's canonical JSON in three parts around the two values only the
lock holder knows, the time and the sequence number (``chain.body_parts``), so the JSON layout stays
in Python's one encoder and the verification (``chain.verify``) is unchanged. Any number of processes
can append at once without knowing the head: the row lock orders them (``services/audit/pg_batch``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# The time as Python's datetime.isoformat(timespec="microseconds") writes a UTC time, which is what
# chain.canonical_body hashes and chain.verify recomputes from the stored column.
_CREATE = """
CREATE FUNCTION nsl_audit_append(
  account_ids varchar[], actors varchar[], actions varchar[], resources varchar[], outcomes varchar[],
  status_codes int[], request_ids varchar[], details json[], heads text[], mids text[], tails text[]
) RETURNS int LANGUAGE plpgsql AS $fn$
DECLARE
  head_seq int;
  head_hash varchar;
  stamp timestamptz;
  stamp_text text;
  n int := cardinality(heads);
  seqs int[] := array_fill(0, ARRAY[n]);
  prevs varchar[] := array_fill(''::varchar, ARRAY[n]);
  hashes varchar[] := array_fill(''::varchar, ARRAY[n]);
BEGIN
  SELECT seq, hash INTO head_seq, head_hash FROM audit_head WHERE id = 1 FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'no_data_found', MESSAGE = 'the audit chain head row is missing';
  END IF;
  stamp := clock_timestamp();
  stamp_text := to_char(stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00';
  FOR i IN 1 .. n LOOP
    head_seq := head_seq + 1;
    seqs[i] := head_seq;
    prevs[i] := head_hash;
    head_hash := encode(sha256(decode(head_hash, 'hex')
      || convert_to(heads[i] || stamp_text || mids[i] || head_seq || tails[i], 'UTF8')), 'hex');
    hashes[i] := head_hash;
  END LOOP;
  INSERT INTO audit_log (seq, account_id, created_at, actor, action, resource, outcome, status_code,
                         request_id, details, prev_hash, hash)
  SELECT entry.seq, entry.account_id, stamp, entry.actor, entry.action, entry.resource, entry.outcome,
         entry.status_code, entry.request_id, entry.details, entry.prev_hash, entry.hash
  FROM unnest(seqs, account_ids, actors, actions, resources, outcomes, status_codes, request_ids, details,
              prevs, hashes)
       AS entry(seq, account_id, actor, action, resource, outcome, status_code, request_id, details,
                prev_hash, hash);
  UPDATE audit_head SET seq = head_seq, hash = head_hash WHERE id = 1;
  RETURN head_seq;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS nsl_audit_append(varchar[], varchar[], varchar[], varchar[], varchar[], "
            "int[], varchar[], json[], text[], text[], text[])"
        )
