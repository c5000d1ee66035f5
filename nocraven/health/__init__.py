"""The appliance watches itself: resources sampled with psutil, thresholds that raise and clear
alerts without flapping, a 24-hour history, forecasts, and Prometheus metrics for the NOC."""
