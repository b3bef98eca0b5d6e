"""``make preflight``: what only the account can tell, checked before a deploy."""
