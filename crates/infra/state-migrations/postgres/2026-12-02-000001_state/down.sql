DROP TABLE pwreset_mail_outbox;
DROP TABLE pwreset_audit_events;
DROP TABLE pwreset_reset_tokens;
