"""Reference central server: receives sample records from devices exactly once and exports them."""
