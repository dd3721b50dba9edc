-- One database per service; each service is the only user of its own.
CREATE DATABASE loyalty_points;
CREATE DATABASE loyalty_rewards;
CREATE DATABASE loyalty_tickets;
CREATE DATABASE loyalty_insights;
CREATE DATABASE loyalty_notifications;
