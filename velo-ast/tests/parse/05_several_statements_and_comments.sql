-- A leading comment.
SELECT a FROM t; -- trailing comment
/* a block
   comment */
;;
CREATE STREAM s AS SELECT b /* inline */ FROM u;

INSERT INTO v SELECT c FROM w;
-- a final comment, no statement after it
