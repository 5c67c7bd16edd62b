//! Listing, showing and revoking sessions.
