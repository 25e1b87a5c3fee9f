"""The I/O edges: SMTP sender and IMAP mailbox."""
