"""Who may do what: marketer API tokens, dashboard users, and the throttles on guessing."""
