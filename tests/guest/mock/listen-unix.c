#include <sys/socket.h>
#include <sys/un.h>
#include <string.h>
#include <unistd.h>
int main(int c, char **v) { int s = socket(AF_UNIX, SOCK_STREAM, 0); struct sockaddr_un a = {0};
  a.sun_family = AF_UNIX; strncpy(a.sun_path, v[1], sizeof a.sun_path - 1);
  if (bind(s, (void *)&a, sizeof a) || listen(s, 8)) return 1; for (;;) pause(); }
