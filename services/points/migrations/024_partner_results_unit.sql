-- The unit each answered record's amount is in. A partner with several units
-- (a hotel's room spend in USD and its nights) reconciles each unit's total:
-- one sum of USD and nights per status meant nothing. Answers logged before
-- this have no unit known: their totals are shown under the unit ''.

ALTER TABLE partner_accrual_results ADD COLUMN unit text NOT NULL DEFAULT '';
