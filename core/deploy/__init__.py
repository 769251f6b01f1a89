"""Deploying: bundles per cloud, the AWS zip, and the real deploy commands."""
