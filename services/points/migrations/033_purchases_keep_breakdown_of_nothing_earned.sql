-- A purchase's breakdown was kept by its ledger entry only, and a purchase that earned nothing (below one whole
-- unit, or taken to 0 by a cap) writes none: a repeat of it answered an empty breakdown where the first answer
-- gave one. Such a purchase now keeps its breakdown on its own row; one with an entry keeps it there alone.
-- Adding a column with no default rewrites nothing.
ALTER TABLE purchases ADD COLUMN breakdown jsonb;

-- Each purchase keeps its breakdown in exactly one place. NOT VALID: purchases that earned nothing before this
-- migration kept it nowhere, and it cannot be recovered (pricing them again would count the day's purchases and
-- refunds as they stand now, not as they stood then): their repeat answers an empty breakdown, as before. Every
-- row written or updated from now on is checked, so a later migration updating those rows must give them one.
-- Not validating also scans nothing while the table is locked.
ALTER TABLE purchases ADD CONSTRAINT purchases_breakdown_kept_once
    CHECK ((entry_id IS NULL) <> (breakdown IS NULL)) NOT VALID;
