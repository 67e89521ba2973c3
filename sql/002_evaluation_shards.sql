-- A monthly evaluation runs in key-range shards (one worker process each); each shard
-- commits its own checkpoint, so a killed run resumes every shard where it stopped.
CREATE TABLE evaluation_shards (
    policy      text NOT NULL,
    month       date NOT NULL,
    shard       integer NOT NULL CHECK (shard >= 0),
    lo          text NOT NULL,            -- exclusive lower bound of the shard's numbers
    hi          text,                     -- inclusive upper bound; NULL = to the end
    last_msisdn text NOT NULL,            -- checkpoint: every number up to here is done
    finished    boolean NOT NULL DEFAULT false,
    counts      jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (policy, month, shard),
    FOREIGN KEY (policy, month) REFERENCES evaluation_runs (policy, month)
);
ALTER TABLE evaluation_runs DROP COLUMN last_msisdn;
ALTER TABLE evaluation_runs DROP COLUMN counts;
