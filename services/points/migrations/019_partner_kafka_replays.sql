-- Which Kafka message each answer on partner.accruals.v1 was given to:
-- "<partition>:<offset>:<timestamp>:<crc32 of the value>". A consumer that
-- reads the same message again (after a broker restart lost the partition's
-- log it resumes in, it reads the new log from the beginning) skips a message
-- already answered. Before, every such replay was answered DUPLICATE once more
-- and counted in the partner's control totals, which then held duplicates the
-- partner never sent. A partner resending a record sends a new message (a new
-- offset, a new timestamp): that is still a DUPLICATE, and counted.

ALTER TABLE partner_accrual_results ADD COLUMN kafka_message text;

CREATE UNIQUE INDEX partner_accrual_results_kafka_message
    ON partner_accrual_results (kafka_message) WHERE kafka_message IS NOT NULL;
