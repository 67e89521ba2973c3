-- Explanations (~500 bytes each) move out of tier_assignments, so the narrow assignment
-- rows the evaluation and the lookup read stay few pages per subscriber as months pile up.
CREATE TABLE tier_explanations (
    msisdn          text NOT NULL,
    policy          text NOT NULL,
    evaluated_month date NOT NULL,
    explanation     jsonb NOT NULL,
    PRIMARY KEY (msisdn, policy, evaluated_month),
    FOREIGN KEY (msisdn, policy, evaluated_month)
        REFERENCES tier_assignments (msisdn, policy, evaluated_month) ON DELETE CASCADE
);
INSERT INTO tier_explanations (msisdn, policy, evaluated_month, explanation)
    SELECT msisdn, policy, evaluated_month, explanation FROM tier_assignments WHERE explanation IS NOT NULL;
ALTER TABLE tier_assignments DROP COLUMN explanation;
