//! Revoking sessions: one, all of a user's, and with the user changes that end them.
