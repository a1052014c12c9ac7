"""Test equipment: helper modules for lab/labctl.py (the rehearsal lab bring-up).

Nothing in the deployment package imports this; it only builds and runs the lab.
"""
