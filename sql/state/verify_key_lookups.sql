-- verify: inside one chunk's transaction, join the chunk (at most chunkSize rows) to the target by
-- primary-key lookups. Without statistics on a freshly loaded target the planner may otherwise hash
-- the source's every target row for each chunk, which makes a large table's verify quadratic.
SET LOCAL enable_hashjoin = off;
SET LOCAL enable_mergejoin = off;
