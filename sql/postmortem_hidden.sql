--
-- postmortem_hidden: postmortem() shows the statement that ran (red team
-- 15B, findings 6 and 8).  PostgreSQL ends a "--" comment at a carriage
-- return as at a line feed: the report skips the leading comment just as
-- far, and shows the UPDATE behind it, not only its last line.  A
-- right-to-left override, zero-width or other invisible characters in what
-- the agent sent are shown as their code points (\u202e), as the server log
-- line shows them, in code spans and in text.
--
\c "dbname=contrib_regression user=regress_su options="
CREATE SCHEMA pmh;
CREATE TABLE pmh.t (id int PRIMARY KEY, v text);
INSERT INTO pmh.t SELECT g, 'v' || g FROM generate_series(1, 3) g;
GRANT USAGE ON SCHEMA pmh TO regress_bot;
GRANT SELECT, UPDATE ON pmh.t TO regress_bot;
SELECT agent_guard.protect('pmh.t');

\c "dbname=contrib_regression user=regress_bot options=-cagent_guard.run_id=run-pmh"
-- (not echoed: the statements hold a carriage return and invisible characters)
\set ECHO none
-- a comment ended by a carriage return, then the UPDATE; its last line
-- alone reads as a harmless subquery
SELECT '-- check' || chr(13) || 'UPDATE pmh.t SET v = ''attacker'' WHERE id IN' || chr(10)
       || '(SELECT id FROM pmh.t WHERE id = 2)' \gexec
-- a right-to-left override in a comment: rendered, "WHERE id = 42" reads
-- backwards over the real WHERE clause
SELECT 'UPDATE pmh.t SET v = ''x'' /*' || chr(8238) || ' 24 = di EREHW */ WHERE id > 0' \gexec
-- invisible characters: a zero-width space in a string, a tag character
-- in a comment
SET agent_guard.run_id = 'run-pmh-2';
SELECT 'UPDATE pmh.t SET v = ''y' || chr(8203) || ''' WHERE id = 1 -- ' || chr(917601) || 'ok' \gexec
\set ECHO all

\c "dbname=contrib_regression user=regress_su options="
SELECT id, v = 'y' || chr(8203) AS zwsp, v FROM pmh.t WHERE id > 1 ORDER BY id;
-- the statements in the report
SELECT regexp_replace(line, '^\| [0-9]+ \| [-0-9]+ [0-9:.]+ [-+][0-9]{2} \|', '| N | AT |') AS line
  FROM regexp_split_to_table(agent_guard.postmortem('run-pmh'), E'\n') WITH ORDINALITY AS l(line, n)
 WHERE line ~ '^\| [0-9]+ \| [^|]+ \| '
 ORDER BY n;
SELECT regexp_replace(line, '^\| [0-9]+ \| [-0-9]+ [0-9:.]+ [-+][0-9]{2} \|', '| N | AT |') AS line
  FROM regexp_split_to_table(agent_guard.postmortem('run-pmh-2'), E'\n') WITH ORDINALITY AS l(line, n)
 WHERE line ~ '^\| [0-9]+ \| [^|]+ \| '
 ORDER BY n;
-- nothing invisible is left in either report
SELECT agent_guard.postmortem(r) ~ '[\u200b-\u200f\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f]' AS hidden
  FROM unnest(ARRAY['run-pmh', 'run-pmh-2']) r;

-- the helpers: comments end where the lexer ends them
SELECT agent_guard._md_cut('-- a' || chr(13) || 'UPDATE t', 100) AS cr,
       agent_guard._md_cut('-- a' || chr(10) || 'UPDATE t', 100) AS lf,
       agent_guard._md_cut('-- a' || chr(13) || chr(10) || '/* b */ UPDATE t', 100) AS crlf,
       agent_guard._md_cut('/* a /* b */ c */ UPDATE t', 100) AS nested,
       agent_guard._md_cut('/* a */* b */ UPDATE t', 100) AS closed_first,
       agent_guard._md_cut('/* a -- b */ UPDATE t -- c', 100) AS dashes_inside,
       agent_guard._md_cut(chr(12) || '-- a' || chr(13) || 'x', 100) AS form_feed,
       agent_guard._md_cut('-- only a comment', 100) AS only_comment;
-- and invisible characters are shown as code points; what can be seen stays
SELECT agent_guard._md_visible('a' || chr(8238) || 'b' || chr(8294) || 'c' || chr(8206) || 'd' || chr(65279)
                               || 'e' || chr(173) || 'f' || chr(27) || 'g' || chr(917505) || 'h') AS escaped,
       agent_guard._md_visible('plain é ü — 日本 ✓ tab' || chr(9) || 'x') AS kept,
       agent_guard._md('a' || chr(8238) || 'b') AS md,
       agent_guard._md_code('a' || chr(8238) || 'b') AS md_code;

SELECT agent_guard.unprotect('pmh.t');
DROP SCHEMA pmh CASCADE;
