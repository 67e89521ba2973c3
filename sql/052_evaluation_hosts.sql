-- X4: `callgate evaluate --month M --shard I/N` lets N hosts share one month. The run
-- records how many hosts share it; each of its key-range shards (002) belongs to one host
-- (1 … N), which evaluates it with its own checkpoint. The month is finished when every
-- shard of every host is. Runs made before this migration were one host's.
ALTER TABLE evaluation_runs ADD COLUMN hosts integer NOT NULL DEFAULT 1 CHECK (hosts >= 1);
ALTER TABLE evaluation_shards ADD COLUMN host integer NOT NULL DEFAULT 1 CHECK (host >= 1);
