"""`make bench`: side-by-side ratios measured in one run on the local control plane."""
