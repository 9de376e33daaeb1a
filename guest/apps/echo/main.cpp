// echo: proves console input end to end. Prints `echo: ready`, then answers every input
// line with `echo: <line>` until a line reads `quit`, then exits 0.
#include <pumice/pumice.hpp>

using namespace pumice;

int main() {
    printf("echo: ready\n");
    char line[200];
    for (;;) {
        long n = console::getline(line, sizeof(line));
        if (n < 0) {
            printf("echo: console read failed: %ld\n", n);
            return 1;
        }
        if (strcmp(line, "quit") == 0) return 0;
        printf("echo: %s\n", line);
    }
}
