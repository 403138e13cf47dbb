"""Preparing devices: provisioning a Pi, writing SD cards for a campaign, enrolment, the self-test."""
