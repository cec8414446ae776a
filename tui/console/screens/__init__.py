"""The console's modal screens: confirmation, error, help, forms and the reset wizard."""
