"""What infra and the runtime must agree on, and nothing else: settings models, metric names, API paths.

Both sides import these modules and never each other. They import only pydantic (and the standard
library), so reading the runtime's settings never loads the stack loader, the checks or the alert models.
"""
