#include <cstdio>

#include "cli/commands.h"

namespace harmonia::cli {

int RunGen(int, char**, int) {
  std::fprintf(stderr, "harmonia gen: not yet\n");
  return 2;
}

}  // namespace harmonia::cli
