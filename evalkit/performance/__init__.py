"""The performance evaluation (绩效评价) of purchased services: service records, outputs against
contracts, cost per result, the scorecard and its grade."""
