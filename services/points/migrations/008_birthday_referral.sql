-- Birthday and referral bonuses: the member's date of birth and who referred them.

ALTER TABLE members
    ADD COLUMN birth_date date CHECK (birth_date >= DATE '1900-01-01'),
    -- Set once at enrolment; the referrer must already be a member.
    ADD COLUMN referrer_member_id text REFERENCES members (member_id)
        CHECK (referrer_member_id <> member_id);

-- The birthday job looks at the members born in the current (or, for the
-- grace days, the previous) month.
CREATE INDEX members_birth_month ON members ((date_part('month', birth_date)), member_id)
    WHERE birth_date IS NOT NULL;
