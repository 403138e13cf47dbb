"""The citizens' free Wi-Fi: rendered hostapd/dnsmasq/nftables configs, applying them, and the captive portal."""
