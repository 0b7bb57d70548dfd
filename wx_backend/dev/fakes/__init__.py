"""Local stand-ins for the outside world (WeChat's servers, SMS gateways), served over HTTP."""
