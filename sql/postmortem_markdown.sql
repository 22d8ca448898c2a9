--
-- postmortem_markdown: what an agent chooses (its statements' text and
-- parameters, its run id, the names of its relations) prints in the
-- postmortem as text.  A statement with backticks cannot close its code span
-- (the fence is longer than any run of backticks in it); text outside code
-- spans has its markup escaped: no bold claims, links, remote images or
-- HTML of the agent's in the report.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE ROLE regress_md_bot LOGIN;
SELECT agent_guard.register_agent('regress_md_bot');
CREATE SCHEMA md AUTHORIZATION regress_md_bot;

\c "dbname=contrib_regression user=regress_md_bot options="
CREATE TABLE md."t_**bold**_![i](https://example.invalid/b.png)" (id int PRIMARY KEY, v text);
INSERT INTO md."t_**bold**_![i](https://example.invalid/b.png)" VALUES (1, 'a'), (2, 'b');
CREATE TABLE md.plain_name (id int PRIMARY KEY, v text);
INSERT INTO md.plain_name VALUES (1, 'a');
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard.protect('md."t_**bold**_![i](https://example.invalid/b.png)"');
SELECT agent_guard.protect('md.plain_name');

\c "dbname=contrib_regression user=regress_md_bot options="
SET agent_guard.run_id = 'r-`**approved**`-<img src=x>-[l](u)';
UPDATE md."t_**bold**_![i](https://example.invalid/b.png)" SET v = 'x' WHERE id = 1 -- ` **Reviewed and approved by a human** ![ok](https://example.invalid/beacon.png) `
;
UPDATE md.plain_name SET v = '``' WHERE id = 1 -- ``` `` `
;
PREPARE md_p(text) AS UPDATE md.plain_name SET v = $1 WHERE id = 1;
EXECUTE md_p('` **param** `');
-- error: every row (YG003); a human approves it with a note, and it runs
\set VERBOSITY sqlstate
DELETE FROM md.plain_name -- `` **ok** ![b](https://example.invalid/b.png) ``
;
\set VERBOSITY default
\c "dbname=contrib_regression user=regress_su options="
SELECT agent_guard._flush_requests();
SELECT status FROM agent_guard.approve((SELECT max(request_id) FROM agent_guard.requests
                                        WHERE statement LIKE 'DELETE FROM md.plain_name%'),
                                       '**fine** <img src=https://example.invalid/n.png>');
\c "dbname=contrib_regression user=regress_md_bot options="
SET agent_guard.run_id = 'r-`**approved**`-<img src=x>-[l](u)';
DELETE FROM md.plain_name -- `` **ok** ![b](https://example.invalid/b.png) ``
;

\c "dbname=contrib_regression user=regress_su options="
-- the helpers
SELECT agent_guard._md('a_b _c_ **b** [l](u) ![i](u) <img> ~~s~~ | \ `c`');
SELECT agent_guard._md_code('plain'), agent_guard._md_code('a ` b'), agent_guard._md_code('`x``'),
       agent_guard._md_code(''), agent_guard._md_code('a | b');
-- the title, the timeline, the approved statement and the data touched
SELECT regexp_replace(regexp_replace(line, '^\| [0-9]+ \| [-0-9]+ [0-9:.]+ [-+][0-9]{2} \|', '| N | AT |'),
                      '\d{4}-\d\d-\d\d [0-9:.]+ [-+][0-9]{2}', 'AT', 'g') AS line
  FROM regexp_split_to_table(agent_guard.postmortem('r-`**approved**`-<img src=x>-[l](u)'), E'\n') WITH ORDINALITY AS l(line, n)
 WHERE line LIKE '# %' OR line ~ '^\| [0-9]+ \| [^|]+ \| `' OR line LIKE '| md.%' OR line ~ '^- [0-9]{4}-'
 ORDER BY n;

DROP SCHEMA md CASCADE;
