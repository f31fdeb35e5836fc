DROP TABLE audit_events;
DROP TABLE reset_tokens;
DROP TABLE settings;
DROP TABLE users;
DROP TABLE groups;
