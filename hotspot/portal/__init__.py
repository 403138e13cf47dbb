"""The captive portal: OS probe answers, install/declare pages, and the declaration form."""
