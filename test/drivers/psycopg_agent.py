"""An agent's database code written with psycopg 3, as agent tools use it.

Called by test/t/032_drivers.pl with a step name; connects over TCP with
the password in PGPASSWORD (PGHOST, PGPORT, PGUSER, PGDATABASE from the
environment) and prints "key=value" lines for the test to check.  Every
statement is a server-side prepared statement (prepare_threshold=0).

  attribution  label a run per transaction, write, report agent and run
  refuse       a parameterized UPDATE over the row limit: print the SQLSTATE
               and the request id read from the error
  retry V1 V2  run the same UPDATE with bound values V1, V2
"""
import re
import sys

import psycopg
from psycopg import errors

UPDATE = "UPDATE invoices SET status = %s WHERE id <= %s"


def connect():
    # prepare_threshold=0: prepare every statement on the server
    return psycopg.connect(prepare_threshold=0, autocommit=True)


def request_id(exc):
    """The request id is in the primary message: '... request 17'."""
    m = re.search(r"request (\d+)", exc.diag.message_primary or "")
    return m.group(1) if m else ""


def attribution(conn):
    with conn.transaction():
        # SET LOCAL takes no parameters; set_config(..., true) does
        conn.execute("SELECT set_config('agent_guard.run_id', %s, true)", ["py-run-1"])
        cur = conn.execute("UPDATE invoices SET status = %s WHERE id = %s RETURNING "
                           "agent_guard.current_agent(), agent_guard.current_run()", ["paid", 1])
        agent, run = cur.fetchone()
    print(f"agent={agent}")
    print(f"run={run}")
    prepared = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
    print(f"prepared={prepared}")


def refuse(conn):
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('agent_guard.run_id', %s, true)", ["py-run-2"])
            conn.execute(UPDATE, ["void", 12])
        print("sqlstate=none")
    except errors.Error as exc:
        print(f"sqlstate={exc.sqlstate}")
        print(f"request={request_id(exc)}")
        print(f"hint={exc.diag.message_hint}")


def retry(conn, status, upto):
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('agent_guard.run_id', %s, true)", ["py-run-2"])
            cur = conn.execute(UPDATE, [status, int(upto)])
            print(f"rows={cur.rowcount}")
        print("sqlstate=none")
    except errors.Error as exc:
        print(f"sqlstate={exc.sqlstate}")
        print(f"request={request_id(exc)}")


def main():
    step = sys.argv[1]
    with connect() as conn:
        if step == "attribution":
            attribution(conn)
        elif step == "refuse":
            refuse(conn)
        elif step == "retry":
            retry(conn, sys.argv[2], sys.argv[3])
        else:
            raise SystemExit(f"unknown step {step}")


if __name__ == "__main__":
    main()
