"""The Windows event endpoint: NXLog, Vector and Winlogbeat over HTTP(S)."""
