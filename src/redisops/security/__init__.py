"""Security: audit checks (config files and live nodes), firewall rules, TLS material, ACL users."""
