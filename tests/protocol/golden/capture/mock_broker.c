/*
 * Minimal single-broker Kafka mock used to capture golden request frames.
 *
 * Starts librdkafka's built-in mock cluster (rdkafka_mock.h) with one broker,
 * pre-creates the topics used by the capture scenarios, prints the bootstrap
 * address on stdout and serves until SIGTERM/SIGINT.
 *
 * Build: cc mock_broker.c -o mock_broker $(pkg-config --cflags --libs rdkafka)
 * Usage: mock_broker [topic ...]   (default: the golden-* topics)
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static const char *default_topics[] = {
    "golden-none", "golden-gzip", "golden-snappy", "golden-lz4", "golden-zstd",
    "golden-idempotent",
};

int main(int argc, char **argv) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    /* Keep the host handle quiet: it never connects anywhere itself. */
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "conf: %s\n", errstr);
        return 1;
    }

    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", errstr);
        return 1;
    }

    rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, 1);
    if (!mcluster) {
        fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
        rd_kafka_destroy(rk);
        return 1;
    }

    int ntopics = argc > 1 ? argc - 1 : (int)(sizeof(default_topics) / sizeof(default_topics[0]));
    for (int i = 0; i < ntopics; i++) {
        const char *name = argc > 1 ? argv[i + 1] : default_topics[i];
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mcluster, name, 1, 1);
        if (err) {
            fprintf(stderr, "topic_create %s: %s\n", name, rd_kafka_err2str(err));
            rd_kafka_mock_cluster_destroy(mcluster);
            rd_kafka_destroy(rk);
            return 1;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
    fflush(stdout);

    while (!stop_requested)
        usleep(100 * 1000);

    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(rk);
    return 0;
}
