"""The kiosk process: camera frames to codes to tubes in the store, with feedback to the staff."""
