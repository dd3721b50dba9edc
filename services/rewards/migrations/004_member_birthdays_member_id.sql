-- Birth dates are kept only for well-formed member ids (services/common/member_ids.py).
-- An enrolment event with an empty member id was stored before, and its row
-- failed the birthday job for every member due after it on that date.

DELETE FROM member_birthdays WHERE member_id !~ '^[A-Za-z0-9._:-]{1,64}$';

ALTER TABLE member_birthdays
    ADD CONSTRAINT member_birthdays_member_id CHECK (member_id ~ '^[A-Za-z0-9._:-]{1,64}$');
