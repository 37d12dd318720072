# Copied from oreilly-japan/deep-learning-from-scratch (common/__init__.py at commit 07b11618cdb5), unchanged but
# for these lines: Copyright (c) 2016 Koki Saitoh, MIT License (see NOTICE at the root).
