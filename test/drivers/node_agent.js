// An agent's database code written with node-postgres (npm "pg"), as agent
// tools use it.  Called by test/t/032_drivers.pl with a step name; connects
// over TCP with PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE from the
// environment and prints "key=value" lines for the test to check.  Queries
// with a name are server-side prepared statements.
//   attribution  label a run per transaction, write, report agent and run
//   refuse       a parameterized UPDATE over the row limit: print the
//                SQLSTATE and the request id read from the error
//   retry V1 V2  run the same UPDATE with bound values V1, V2
'use strict';
const { Client } = require('pg');

const UPDATE = { name: 'void-invoices', text: 'UPDATE invoices SET status = $1 WHERE id <= $2' };

// the request id is in the primary message: '... request 17'
function requestId(err) {
  const m = /request (\d+)/.exec(err.message || '');
  return m ? m[1] : '';
}

async function inTransaction(client, run, body) {
  await client.query('BEGIN');
  try {
    // SET LOCAL takes no parameters; set_config(..., true) does
    await client.query({ name: 'label-run', text: "SELECT set_config('agent_guard.run_id', $1, true)", values: [run] });
    const result = await body();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

async function main() {
  const [step, a1, a2] = process.argv.slice(2);
  const client = new Client();
  await client.connect();
  try {
    if (step === 'attribution') {
      const r = await inTransaction(client, 'node-run-1', () => client.query({
        name: 'pay-invoice',
        text: 'UPDATE invoices SET status = $1 WHERE id = $2 RETURNING agent_guard.current_agent() AS agent, agent_guard.current_run() AS run',
        values: ['paid', 2],
      }));
      console.log(`agent=${r.rows[0].agent}`);
      console.log(`run=${r.rows[0].run}`);
      const p = await client.query('SELECT count(*) AS n FROM pg_prepared_statements');
      console.log(`prepared=${p.rows[0].n}`);
    } else if (step === 'refuse' || step === 'retry') {
      const values = step === 'refuse' ? ['void', 12] : [a1, Number(a2)];
      try {
        const r = await inTransaction(client, 'node-run-2', () => client.query({ ...UPDATE, values }));
        console.log(`rows=${r.rowCount}`);
        console.log('sqlstate=none');
      } catch (err) {
        console.log(`sqlstate=${err.code}`);
        console.log(`request=${requestId(err)}`);
        console.log(`hint=${err.hint}`);
      }
    } else {
      throw new Error(`unknown step ${step}`);
    }
  } finally {
    await client.end();
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
