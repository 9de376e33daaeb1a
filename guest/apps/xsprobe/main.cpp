// xsprobe: the xenstore client against the domain's own nodes.
//
// Reads `name` and `domid`, writes `data/probe` = "ok" in a transaction and reads it back,
// lists the home directory (/local/domain/<domid>), prints
//   xsprobe: name=<name> domid=<domid>
//   xsprobe: data/probe=<value>
//   xsprobe: home has <n> entries
// then stays up to `hold_ms` (0) so the toolstack can write control/shutdown (Pumice powers
// off, or reboots, as asked), and exits 0. Exits 1 when there is no store or a call fails.
#include <pumice/pumice.hpp>
#include <pumice/xenstore.hpp>

using namespace pumice;

int main() {
    if (!xenstore::available()) {
        printf("xsprobe: no xenstore\n");
        return 1;
    }
    char name[64], domid[16], probe[16];
    long rc = xenstore::read("name", name, sizeof(name));
    if (rc < 0) {
        printf("xsprobe: read name failed: %ld\n", rc);
        return 1;
    }
    rc = xenstore::read("domid", domid, sizeof(domid));
    if (rc < 0) {
        printf("xsprobe: read domid failed: %ld\n", rc);
        return 1;
    }
    printf("xsprobe: name=%s domid=%s\n", name, domid);
    rc = xenstore::transaction([](xenstore::Transaction t) { return xenstore::write("data/probe", "ok", t); });
    if (rc < 0) {
        printf("xsprobe: write data/probe failed: %ld\n", rc);
        return 1;
    }
    rc = xenstore::read("data/probe", probe, sizeof(probe));
    if (rc < 0) {
        printf("xsprobe: read data/probe failed: %ld\n", rc);
        return 1;
    }
    printf("xsprobe: data/probe=%s\n", probe);
    char home[48];
    snprintf(home, sizeof(home), "/local/domain/%s", domid);
    char* names = static_cast<char*>(malloc(4096));
    long n = names ? xenstore::directory(home, names, 4096) : -XEN_ENOMEM;
    free(names);
    printf("xsprobe: home has %ld entries\n", n);
    rc = xenstore::read("no/such/node", probe, sizeof(probe));
    printf("xsprobe: missing node rc=%ld\n", rc);

    uint64_t hold_ms = cmdline::get_u64("hold_ms", 0);
    if (hold_ms) printf("xsprobe: holding %llu ms\n", static_cast<unsigned long long>(hold_ms));
    sleep_ns(hold_ms * time::kNsPerMs);
    return 0;
}
